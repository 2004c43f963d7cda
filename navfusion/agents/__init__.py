"""navfusion.agents"""
