"""navfusion.eval"""
