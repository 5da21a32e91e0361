"""The local target: a local AWS API emulator and a throwaway PostgreSQL, both on loopback."""
