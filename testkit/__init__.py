"""What tests/ and bench/ share: private PostgreSQL databases and RabbitMQ vhosts (or
servers of their own), a stack of `scheduler` processes, a recording HTTP target,
and job builders. Not part of the service: it is never in the wheel or the image."""
