"""(being built)"""

routes = []
