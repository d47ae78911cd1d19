"""boto3 behind small interfaces. Only this package touches AWS clients."""
