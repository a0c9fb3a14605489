"""The dead-letter topic seen by an operator: reading dead letters back (`dlq inspect`) and
the pure view of one dead letter that `dlq inspect` and the redrive stage share."""
