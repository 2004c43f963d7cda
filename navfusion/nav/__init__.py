"""navfusion.nav"""
