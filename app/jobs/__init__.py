"""Jobs as the API sees them: validation, JSON Schemas, tables and their SQL."""
