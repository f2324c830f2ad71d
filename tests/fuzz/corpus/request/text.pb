
req-1Once upon a time