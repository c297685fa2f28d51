-- Rows in commit order: SQLite has one writer at a time, so `seq` (taken
-- inside the writing transaction) is already the order of commits; readers
-- page by `seq` (collector/src/store/mod.rs, `commit_column`). Nothing to
-- change; the migration keeps both databases' versions in step.
SELECT 1;
