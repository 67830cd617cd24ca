"""The database and files at rest: tables, engine, configuration, catalogue, media, organiser key."""
