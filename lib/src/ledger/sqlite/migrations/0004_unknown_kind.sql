-- kind 'unknown': a revocation `pgca ledger rebuild` found in a CRL whose certificate is no
-- longer on disk (SQLite changes a CHECK constraint only by copying the table).
CREATE TABLE certificates_v4 (
    id          INTEGER PRIMARY KEY,
    serial      TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'server', 'client', 'unknown')),
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded', 'expired')),
    detail      TEXT    NOT NULL DEFAULT '{}',
    issued_at   INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    revocation_reason TEXT NOT NULL DEFAULT '',
    cert_file_sha256  TEXT NOT NULL DEFAULT '',
    key_file_sha256   TEXT NOT NULL DEFAULT '',
    UNIQUE (issuer, serial)
);
INSERT INTO certificates_v4 (id, serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status,
                             detail, issued_at, revoked_at, revocation_reason, cert_file_sha256, key_file_sha256)
    SELECT id, serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status,
           detail, issued_at, revoked_at, revocation_reason, cert_file_sha256, key_file_sha256 FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_v4 RENAME TO certificates;
CREATE INDEX certificates_by_name ON certificates (kind, name, status);
CREATE INDEX certificates_revoked ON certificates (issuer, status);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_by_status ON certificates (status);
