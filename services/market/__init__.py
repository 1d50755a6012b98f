"""The market service.

Achievements (科技成果) listed for transfer, technical demands (技术需求), technology contract registration (技术合同认定登记) and the contract statistics.
"""
