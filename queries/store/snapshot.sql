-- A consistent copy of the whole database into a new file, read in one
-- transaction while writers go on. The target is bound, never formatted in.
VACUUM INTO :target
