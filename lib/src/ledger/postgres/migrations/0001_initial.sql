-- The PostgreSQL ledger's first schema: the SQLite ledger's as of its migration 6 (same columns,
-- same spellings), with PostgreSQL types. Times are Unix seconds (bigint) like SQLite's.
CREATE TABLE certificates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial      text   NOT NULL,
    issuer      text   NOT NULL,
    kind        text   NOT NULL CHECK (kind IN ('root', 'intermediate', 'server', 'client', 'unknown', 'pooler',
                                                'pooler_client')),
    name        text   NOT NULL,
    subject     text   NOT NULL,
    not_before  bigint NOT NULL,
    not_after   bigint NOT NULL,
    fingerprint text   NOT NULL,
    status      text   NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded', 'expired')),
    issued_at   bigint NOT NULL,
    revoked_at  bigint NOT NULL DEFAULT 0,
    revocation_reason text NOT NULL DEFAULT '',
    cert_file_sha256  text NOT NULL DEFAULT '',
    key_file_sha256   text NOT NULL DEFAULT '',
    hosts          text,
    cn             text,
    key_alg        text,
    days           integer NOT NULL DEFAULT 0,
    key_passphrase text,
    -- Serials are unique per CA by constraint: two machines signing at once cannot both record one.
    CONSTRAINT certificates_issuer_serial UNIQUE (issuer, serial)
);
CREATE INDEX certificates_by_name ON certificates (kind, name, status);
CREATE INDEX certificates_revoked ON certificates (issuer, status);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_by_status ON certificates (status);
-- One row per CA: the newest CRL. record_crl updates it under its row lock.
CREATE TABLE crls (
    issuer      text   PRIMARY KEY,
    number      bigint NOT NULL,
    this_update bigint NOT NULL,
    next_update bigint NOT NULL,
    entries     bigint NOT NULL
);
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
