//! FreeSWITCH's `mod_callcenter` over the event socket (inbound ESL):
//! `parser` reads the wire format.

pub mod parser;
