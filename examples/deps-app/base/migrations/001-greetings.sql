-- Every greeting the app gave.
CREATE TABLE greetings (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);
