"""Zero-downtime database credential rotation (`platformctl secrets rotate`); see docs/adr/0012."""
