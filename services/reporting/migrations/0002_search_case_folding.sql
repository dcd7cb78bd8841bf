-- Search folds case in every script: the text searched is lower()ed by PostgreSQL (it was
-- lower-cased for ASCII only, so "MÜLLER" did not find "Müller").
UPDATE customer_rows SET search_text = lower(search_text) WHERE search_text <> lower(search_text);
