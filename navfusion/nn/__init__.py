"""navfusion.nn"""
