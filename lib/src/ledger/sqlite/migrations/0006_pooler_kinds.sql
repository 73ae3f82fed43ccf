-- kinds 'pooler' (a PgBouncer's server certificate: clients → pooler) and 'pooler_client' (its
-- client certificate: pooler → PostgreSQL), both named after the pooler. SQLite changes a CHECK
-- constraint only by copying the table.
CREATE TABLE certificates_v6 (
    id          INTEGER PRIMARY KEY,
    serial      TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'server', 'client', 'unknown', 'pooler',
                                                 'pooler_client')),
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded', 'expired')),
    issued_at   INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    revocation_reason TEXT NOT NULL DEFAULT '',
    cert_file_sha256  TEXT NOT NULL DEFAULT '',
    key_file_sha256   TEXT NOT NULL DEFAULT '',
    hosts TEXT,
    cn TEXT,
    key_alg TEXT,
    days INTEGER NOT NULL DEFAULT 0,
    key_passphrase TEXT,
    UNIQUE (issuer, serial)
);
INSERT INTO certificates_v6 (id, serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status,
                             issued_at, revoked_at, revocation_reason, cert_file_sha256, key_file_sha256, hosts, cn,
                             key_alg, days, key_passphrase)
    SELECT id, serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status, issued_at, revoked_at,
           revocation_reason, cert_file_sha256, key_file_sha256, hosts, cn, key_alg, days, key_passphrase
    FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_v6 RENAME TO certificates;
CREATE INDEX certificates_by_name ON certificates (kind, name, status);
CREATE INDEX certificates_revoked ON certificates (issuer, status);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_by_status ON certificates (status);
