-- scripts/bench.sh's CRL ledger: :entries revoked client certificates of the CA :issuer (RFC 2253,
-- as pgca records it), revoked a day before :epoch and expiring a year after it, so every row
-- belongs on the CRL. Serials: 16 random octets, first nibble 4 (positive, no leading zero), like
-- pgca's. Run by the sqlite3 CLI after `.parameter set`; tests/unit/ledger_test.cpp runs it
-- against a ledger of the current schema, so a schema change that breaks it fails a test.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :entries)
INSERT INTO certificates (serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status,
                          issued_at, revoked_at, revocation_reason)
SELECT '4' || substr(upper(hex(randomblob(16))), 2), :issuer, 'client', 'bulk' || i, 'CN=bulk' || i,
       :epoch - 172800, :epoch + 31536000, upper(hex(randomblob(32))), 'revoked', :epoch - 172800,
       :epoch - 86400, 'unspecified'
FROM n;
