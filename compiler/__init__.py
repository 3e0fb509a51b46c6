"""netc.compiler: AST -> validated spec -> NetPlan -> generated source. Never imports numpy."""
