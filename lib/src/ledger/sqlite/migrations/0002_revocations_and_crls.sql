ALTER TABLE certificates ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN revocation_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX certificates_revoked ON certificates (issuer, status);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE TABLE crls (
    issuer      TEXT    PRIMARY KEY,
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    entries     INTEGER NOT NULL
);
