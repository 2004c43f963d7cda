"""navfusion.viz"""
