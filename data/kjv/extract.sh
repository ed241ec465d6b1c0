#!/bin/sh
# Regenerates kjv-excerpt.txt from Debian's bible-kjv-text package (the King James Version, public domain):
#   apt-get install -y bible-kjv-text   # the compressed text in /usr/lib/bible.data, read with the `bible` program
#   sh data/kjv/extract.sh > data/kjv/kjv-excerpt.txt
# One verse per line, the verse reference stripped; books separated by a blank line.
set -e
for range in gen1:1-gen50:26 exo1:1-exo40:38 rut1:1-rut4:22 pro1:1-pro31:31; do
  # piped, `bible` prints a "Book N" line per chapter and "  V text" per verse
  COLUMNS=100000 bible -l100000 "$range" | grep -v '^[1-9A-Z][A-Za-z ]* [0-9]*$' | sed -e 's/^ *[0-9]* //' | grep -v '^$'
  echo
done
