"""navfusion.train"""
