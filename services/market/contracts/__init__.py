"""Technology contract registration (技术合同认定登记): submission, the registrar workflow, deltas and bulk import."""
