"""PostgreSQL logins of the platform's workloads, one concept for `vault bootstrap` and rotation.

- model: where a database is, a credential (a NOLOGIN group role and two login slots), the master
- connect: connections as a login or as the master, and the "does it log in" check
- passwords: passwords sent only as SCRAM verifiers computed client-side
- roles / grants: role facts, and the privileges of app (DML) and migration (DDL) logins
- slots: the group + two slots layout a rotation needs, and the dedicated vault admin
- sessions: who is connected as a login, and retiring one after a drain

Nothing here logs, returns in an error or stores a password except where a caller asks for the
credential it is creating. Imports: the standard library, psycopg and the contract layer (app/contracts) only.
"""
