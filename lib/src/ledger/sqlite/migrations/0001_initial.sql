CREATE TABLE certificates (
    id          INTEGER PRIMARY KEY,
    serial      TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'server', 'client')),
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded', 'expired')),
    detail      TEXT    NOT NULL DEFAULT '{}',
    issued_at   INTEGER NOT NULL,
    UNIQUE (issuer, serial)
);
CREATE INDEX certificates_by_name ON certificates (kind, name, status);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
