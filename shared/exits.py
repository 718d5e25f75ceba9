"""The exit codes newsflow's services end with, and what `newsflow run` does with each."""

EX_DATAERR = 65  # the stage's input, not the infrastructure: not restarted (the dead-letter limit)
EX_TEMPFAIL = 75  # "try again later": the broker, not this service, is at fault; restarted
