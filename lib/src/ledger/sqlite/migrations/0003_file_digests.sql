ALTER TABLE certificates ADD COLUMN cert_file_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN key_file_sha256 TEXT NOT NULL DEFAULT '';
CREATE INDEX certificates_by_status ON certificates (status);
