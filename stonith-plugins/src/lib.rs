//! STONITH plugins (issue 5). Empty until then.
