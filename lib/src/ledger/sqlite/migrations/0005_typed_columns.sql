-- Typed columns instead of the JSON `detail`, filled from it: hosts comma-separated (a host
-- never holds a comma), key_passphrase as PassphraseSource::to_json() ('' = none); NULL (and
-- days 0) where the row never said. The parameters' fingerprint is not stored: it is computed
-- from these columns, so a later change of its encoding leaves nothing stale.
ALTER TABLE certificates ADD COLUMN hosts TEXT;
ALTER TABLE certificates ADD COLUMN cn TEXT;
ALTER TABLE certificates ADD COLUMN key_alg TEXT;
ALTER TABLE certificates ADD COLUMN days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN key_passphrase TEXT;
UPDATE certificates SET
    hosts = (SELECT group_concat(value, ',') FROM (SELECT value FROM json_each(certificates.detail, '$.hosts')
                                                     ORDER BY key)),
    cn = json_extract(detail, '$.cn'),
    key_alg = NULLIF(json_extract(detail, '$.key'), ''),
    days = coalesce(json_extract(detail, '$.days'), 0),
    key_passphrase = json_extract(detail, '$.key_passphrase')
WHERE json_valid(detail) AND json_type(detail) = 'object';
ALTER TABLE certificates DROP COLUMN detail;
