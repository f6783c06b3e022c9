"""The `dub` application: the command line (cli), the review page's server (review_server) and the
check of the machine (doctor). It composes flows/; nothing below it imports it."""
