"""The second channel: SMS through a Kannel gateway. `sender` delivers the SMS rows the flows wrote;
`endpoint` takes the gateway's calls back (replies, delivery reports). Only this package knows Kannel."""
