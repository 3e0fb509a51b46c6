"""netc.runtime: NetPlan + generated source -> NumPy network -> training. No lark/pydantic."""
