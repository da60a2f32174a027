"""Understanding and phrasing that needs no outside service: entity parsers, spoken-text rules, prompts,
the rule-and-example intent classifier and the extractive answerer the local engine is built from."""
