-- Schema of species.sqlite: read-only reference data about reptile taxa.
-- Built by `python -m bot.species_db.build` from data/species/*.toml; never edited by hand.

CREATE TABLE taxa (
    scientific_name  TEXT PRIMARY KEY,          -- e.g. 'Caretta caretta', 'Thamnophis', 'Hydrophiinae'
    common_name      TEXT NOT NULL,             -- standard English name, e.g. 'Loggerhead sea turtle'
    rank             TEXT NOT NULL CHECK (rank IN ('subspecies', 'species', 'genus', 'subfamily', 'family')),
    genus            TEXT,                      -- genus (for species and subspecies rows); NULL for higher ranks
    subfamily        TEXT,                      -- subfamily where one is in common use, else NULL
    family           TEXT NOT NULL,             -- family, e.g. 'Cheloniidae'
    reptile_type     TEXT NOT NULL CHECK (reptile_type IN ('crocodilian', 'lizard', 'snake', 'turtle', 'tuatara')),  -- tuatara = order Rhynchocephalia
    distribution     TEXT NOT NULL,             -- where it lives: countries or regions, or 'unknown'
    habitat          TEXT NOT NULL,             -- e.g. 'rivers, swamps and mangroves', or 'unknown'
    colour           TEXT NOT NULL,             -- typical adult colour, or 'unknown'
    diet             TEXT NOT NULL,             -- e.g. 'fish, birds and mammals', or 'unknown'
    diet_class       TEXT NOT NULL CHECK (diet_class IN ('carnivore', 'insectivore', 'herbivore',
                                                         'omnivore', 'unknown')),
    iucn_category    TEXT NOT NULL CHECK (iucn_category IN ('LC', 'NT', 'VU', 'EN', 'CR', 'EW', 'EX',
                                                            'DD', 'NE', 'unknown')),
    iucn_year        INTEGER,                   -- year the IUCN assessment was published, NULL if unknown
    venom            TEXT NOT NULL CHECK (venom IN ('venomous', 'mildly venomous', 'harmless', 'unknown')),
    adult_length_cm  REAL,                      -- typical adult total length in cm (shell length for turtles), NULL if unknown
    fun_fact         TEXT NOT NULL,             -- one sentence a ten-year-old understands
    well_known       INTEGER NOT NULL DEFAULT 0 CHECK (well_known IN (0, 1)),  -- famous enough for 'kids' quizzes
    lists            TEXT NOT NULL,             -- comma-separated origins: seed, imagenet, philippine, photos, who, dangerous, pet, famous, crocodilian
    source_url       TEXT NOT NULL,             -- page the facts were checked against
    iucn_source_url  TEXT,                      -- page the IUCN category was read from, NULL if none
    continents       TEXT NOT NULL DEFAULT '',  -- comma-separated: Africa, Asia, Europe, North America, South America, Oceania, Oceans
    synonyms         TEXT NOT NULL DEFAULT '',  -- '|'-separated older scientific names and other common names (searchable)
    venom_source_url TEXT,                      -- clinical/toxinology source of the venom status (every snake, venomous lizards)
    who_category     INTEGER CHECK (who_category IN (1, 2)),  -- WHO snake-antivenom guidelines category, NULL if not listed
    who_regions      TEXT NOT NULL DEFAULT ''   -- comma-separated WHO regions of that listing, '' if not listed
);

CREATE INDEX taxa_genus ON taxa (genus);
CREATE INDEX taxa_family ON taxa (family);
CREATE INDEX taxa_subfamily ON taxa (subfamily);
CREATE INDEX taxa_common_name ON taxa (common_name COLLATE NOCASE);
CREATE INDEX taxa_reptile_type ON taxa (reptile_type);

CREATE TABLE metadata (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
