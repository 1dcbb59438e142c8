-- Customers are matched by an e-mail key folded by the application (Unicode case folding, NFC,
-- trimmed: processor.pos.customers.email_key), the same for every script whatever the database's
-- locale: lower() folds only ASCII under the C ctype, so one buyer could become three customers.
ALTER TABLE pos.customers ADD COLUMN email_key text;
DROP INDEX IF EXISTS pos.customers_email_key;
-- The migration's data step (processor.ops.email_keys) runs next in this same transaction: it
-- folds the existing rows' keys, merges the customers that turn out to be one (their sales and
-- invoices repointed to the oldest), then creates the unique index customers_email_key.

-- The previous release runs until the rollout ends and inserts customers without a key: give
-- them one. lower(btrim()) equals the application's fold for ASCII addresses; the rare other
-- address created in that window keeps this key (a later spelling of it may not match it).
CREATE FUNCTION pos.customers_email_key_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email_key IS NULL AND NEW.email IS NOT NULL AND btrim(NEW.email) <> '' THEN
        NEW.email_key := lower(btrim(NEW.email));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER customers_email_key_default BEFORE INSERT ON pos.customers
    FOR EACH ROW EXECUTE FUNCTION pos.customers_email_key_default();
