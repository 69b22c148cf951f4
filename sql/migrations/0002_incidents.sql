-- Incidents (the tracker in `loginsight serve`): each insight's last incident, and whether its
-- pattern is background (steady before, part of no incident). The incidents themselves live
-- in the server's DuckDB file.
ALTER TABLE insights ADD COLUMN IF NOT EXISTS incident_id text;
ALTER TABLE insights ADD COLUMN IF NOT EXISTS background boolean;
