"""The book as a whole: its bilingual glossary and its list of references.

Library code that reads the chapter notebooks as data (JSON) and needs no notebook machinery:
:mod:`lmkit.book.glossary` merges every chapter's "Key terms · 术语对照" table into one
English ↔ 中文 glossary and reports terms translated two ways; :mod:`lmkit.book.references`
holds the works the chapters cite. Introduced in the appendix.
"""
