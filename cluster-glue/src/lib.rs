//! cluster-glue: lrmd and stonithd (issues 3 and 5). Empty until then.
