"""Interoperability: FHIR R4 export of episodes and cohorts, and import of pain and step Observations."""
