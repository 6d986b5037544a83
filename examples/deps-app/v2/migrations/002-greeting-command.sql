-- v2 records, with each greeting, the command line that says the same.
ALTER TABLE greetings ADD COLUMN command TEXT;
