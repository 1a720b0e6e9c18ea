// placeholder; filled below
