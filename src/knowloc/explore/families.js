// Family pages (localization, neurons, snapshots, alignment): RENDER[type] for their sections.
"use strict";
