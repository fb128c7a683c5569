"""Job secrets: taken out of a job and shown as ***, sealed at rest."""
