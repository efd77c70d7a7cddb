"""The store: the only floor that speaks SQL — tables, migrations, state verbs and shared reads."""
