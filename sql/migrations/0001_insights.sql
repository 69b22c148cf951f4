-- Insights in PostgreSQL (`--insights-url`): the same columns as the DuckDB `insights` table.
CREATE TABLE IF NOT EXISTS insights (
    id            text PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    service       text,
    pattern_id    text,
    severity      text,
    title         text,
    summary       text,
    root_cause    text,
    suggested_fix text,
    confidence    double precision,
    model         text,
    status        text,
    first_seen    timestamptz,
    last_seen     timestamptz,
    occurrences   bigint NOT NULL DEFAULT 0,
    evidence      jsonb
);
CREATE INDEX IF NOT EXISTS insights_last_seen ON insights (last_seen DESC);

-- Every event an insight has counted, so a redelivered update is not counted twice.
CREATE TABLE IF NOT EXISTS insight_events (
    event_id   text PRIMARY KEY,
    insight_id text NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now()
);
