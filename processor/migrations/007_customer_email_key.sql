-- Customers are matched by an e-mail key folded by the application (Unicode case folding, NFC,
-- trimmed: processor.pos.customers.email_key), the same for every script whatever the database's
-- locale: lower() folds only ASCII under the C ctype, so one buyer could become three customers.
ALTER TABLE pos.customers ADD COLUMN email_key text;
DROP INDEX IF EXISTS pos.customers_email_key;
-- The migration's data step (processor.ops.email_keys) runs next in this same transaction: it
-- folds the existing rows' keys, merges the customers that turn out to be one (their sales and
-- invoices repointed to the oldest), then creates the unique index customers_email_key.
