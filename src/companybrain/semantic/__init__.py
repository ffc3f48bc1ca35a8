"""The semantic layer: metrics and dimensions over the ontology, compiled to one policy-checked SQL tree."""
