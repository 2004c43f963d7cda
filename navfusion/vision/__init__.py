"""navfusion.vision"""
